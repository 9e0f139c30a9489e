"""Sources as the config describes them: the one table from a ``source:`` section to the
plain settings the capture process is handed, and what ``check-config`` can tell of a
source before it runs.  Runs in the main process only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from edgeeye.config.app import AppConfig
from edgeeye.config.sections import (
    ImagesSourceConfig,
    Picamera2SourceConfig,
    SourceConfig,
    SyntheticSourceConfig,
    VideoSourceConfig,
)
from edgeeye.errors import SourceError
from edgeeye.sources.frame import FrameSource, SourceSettings

if TYPE_CHECKING:
    from edgeeye.sources.images import ImagesSettings


def _synthetic(config: SyntheticSourceConfig) -> SourceSettings:
    from edgeeye.sources.synthetic import SyntheticSettings

    return SyntheticSettings(config.width, config.height, config.fps, config.stamp)


def _images(config: ImagesSourceConfig) -> ImagesSettings:
    from edgeeye.sources.images import ImagesSettings

    return ImagesSettings(config.path, config.loop, config.fps)


def _video(config: VideoSourceConfig) -> SourceSettings:
    from edgeeye.sources.video import VideoSettings

    return VideoSettings(config.path, config.width, config.height, config.fps)


def _picamera2(config: Picamera2SourceConfig) -> SourceSettings:
    # Importing this module imports no picamera2: that happens in ``open()``, on a Pi.
    from edgeeye.sources.picamera import PicameraSettings

    return PicameraSettings(
        camera_index=config.camera,
        main_size=(config.main_size[0], config.main_size[1]),
        fps=config.fps,
        lores_format=config.lores_format,
    )


#: Every source type: its config section's model and the function that makes its
#: settings.  The config's ``SourceConfig`` union lists the same models; a unit test holds
#: the two equal.
SOURCE_TYPES: dict[type[SourceConfig], Callable[..., SourceSettings]] = {
    SyntheticSourceConfig: _synthetic,
    ImagesSourceConfig: _images,
    VideoSourceConfig: _video,
    Picamera2SourceConfig: _picamera2,
}


def source_settings(config: SourceConfig) -> SourceSettings:
    """What the capture process is handed for this ``source:`` section."""
    build = SOURCE_TYPES.get(type(config))
    if build is None:
        raise SourceError(f"source.type: {config!r} has no implementation")
    return build(config)


def make_source(config: SourceConfig, model_size: tuple[int, int]) -> FrameSource:
    """The source a config describes; ``model_size`` is (height, width). Opens nothing."""
    return source_settings(config).make(model_size)


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
        from edgeeye.sources.images import ImagesSource

        source = ImagesSource(_images(config))
        return [f"{problem} (it will be skipped)" for problem in source.header_problems()]
    return []


def source_names(config: AppConfig) -> tuple[str, ...]:
    """Names for result tags: the images source's file names, else none."""
    if isinstance(config.source, ImagesSourceConfig):
        from edgeeye.sources.images import ImagesSource

        source = ImagesSource(_images(config.source))
        return tuple(os.path.basename(p) for p in map(str, source.files()))
    return ()
