"""Frame sources: the Raspberry Pi camera, still images, video, generated frames.

Owns what a frame is before it reaches the ring (``frame``: pixel layouts, the
``FrameSource`` interface) and the one table from a ``source:`` config section to the
class that reads it (``make_source``).  Runs in the capture process; the main process only
builds a source to ask its frame size (no device is opened until ``open()``).

May import: ``edgeeye.config`` and ``edgeeye.errors``.  Never the pipeline, inference,
publishing or MQTT side.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from edgeeye.config.app import AppConfig
from edgeeye.config.sections import (
    ImagesSourceConfig,
    Picamera2SourceConfig,
    SourceConfig,
    SyntheticSourceConfig,
    VideoSourceConfig,
)
from edgeeye.errors import SourceError
from edgeeye.sources.frame import FrameSource


def _synthetic(config: SyntheticSourceConfig, _model_size: tuple[int, int]) -> FrameSource:
    from edgeeye.sources.synthetic import SyntheticSettings, SyntheticSource

    return SyntheticSource(SyntheticSettings(config.width, config.height, config.fps, config.stamp))


def _images(config: ImagesSourceConfig, _model_size: tuple[int, int]) -> FrameSource:
    from edgeeye.sources.images import ImagesSettings, ImagesSource

    return ImagesSource(ImagesSettings(config.path, config.loop, config.fps))


def _video(config: VideoSourceConfig, _model_size: tuple[int, int]) -> FrameSource:
    from edgeeye.sources.video import VideoSettings, VideoSource

    return VideoSource(VideoSettings(config.path, config.width, config.height, config.fps))


def _picamera2(config: Picamera2SourceConfig, model_size: tuple[int, int]) -> FrameSource:
    # picamera2 exists only on a Pi: imported when a camera is configured, never before.
    from edgeeye.sources.picamera import Picamera2Source, PicameraSettings

    settings = PicameraSettings(
        camera_index=config.camera,
        main_size=(config.main_size[0], config.main_size[1]),
        fps=config.fps,
        lores_format=config.lores_format,
    )
    return Picamera2Source(settings, (model_size[1], model_size[0]))


#: Every source type: its config section's model and the function that builds it.  The
#: config's ``SourceConfig`` union lists the same models; a unit test holds the two equal.
SOURCE_TYPES: dict[type[SourceConfig], Callable[..., FrameSource]] = {
    SyntheticSourceConfig: _synthetic,
    ImagesSourceConfig: _images,
    VideoSourceConfig: _video,
    Picamera2SourceConfig: _picamera2,
}


def make_source(config: SourceConfig, model_size: tuple[int, int]) -> FrameSource:
    """The source a config describes; ``model_size`` is (height, width). Opens nothing."""
    build = SOURCE_TYPES.get(type(config))
    if build is None:
        raise SourceError(f"source.type: {config!r} has no implementation")
    return build(config, model_size)


def check_source_imports(config: SourceConfig) -> None:
    """Import what the capture process will import for this source (picamera2 and the
    camera stack under it), or ``SourceError`` naming why it cannot: ``check-config`` on a
    Pi finds a broken camera stack before a restart loop does."""
    if isinstance(config, Picamera2SourceConfig):
        from edgeeye.sources.picamera import import_picamera2

        import_picamera2(f"camera {config.camera}")


def source_warnings(config: SourceConfig) -> list[str]:
    """What ``check-config`` can already tell will be skipped, one line each: for an images
    folder, the files whose headers show them unusable (no pixel is decoded)."""
    if isinstance(config, ImagesSourceConfig):
        from edgeeye.sources.images import ImagesSettings, ImagesSource

        source = ImagesSource(ImagesSettings(config.path, config.loop, config.fps))
        return [f"{problem} (it will be skipped)" for problem in source.header_problems()]
    return []


def source_names(config: AppConfig) -> tuple[str, ...]:
    """Names for result tags: the images source's file names, else none."""
    if isinstance(config.source, ImagesSourceConfig):
        from edgeeye.sources.images import ImagesSettings, ImagesSource

        source = ImagesSource(
            ImagesSettings(config.source.path, config.source.loop, config.source.fps)
        )
        return tuple(os.path.basename(p) for p in map(str, source.files()))
    return ()
