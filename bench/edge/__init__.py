"""ONNX edge targets: profiles of edge hardware, local emulation, roofline projection, device bundles.

Three kinds of number come out of here and are never mixed up:
- emulated: the model ran under ONNX Runtime on this host within a profile's limits
  (`emulated: true`), which tests the limits, not the board's speed;
- projected: latency and energy on the profile's hardware from the roofline model and its spec
  (`projected_*`, with `projection_assumptions`);
- measured on the device: records written by a bundle's runner on the real board
  (`emulated: false`), merged into a run by `bench import`.
"""
