"""Models: inspecting one, choosing the interpreter, preprocessing frames, running it.

Owns model inspection (``model.inspect_model`` -> ``ModelSpec``, in the main process
before any worker starts), the TFLite interpreter choice (``interpreter``: LiteRT, else
tflite-runtime), preprocessing of any source layout to the model's input
(``preprocess``), what a worker runs (``runner.open_model``: the ``classifier``, or the
``detector`` whose outputs ``detection_outputs`` tells apart; both give a ``results``
``Inference``) and the model zoo (``zoo``: finding and downloading the manifest's
models).  A new backend (an accelerator) is a module beside them, chosen by
``runner.open_model``: inspected in the main process, run in a worker, with no change to
the pipeline.

May import: sources (for the frame layouts), config, errors.  Never the pipeline or the
MQTT side.
"""
