"""Profiling: where a cell's time goes, and why one optimization is faster than another.

Timing answers "how fast"; a profile answers "where". When a suite asks for it
(`measure: {profile: true}` or `bench run --profile`), each cell runs a short profiled pass after
its timed samples, never inside them (bench.profile.phase). The profilers are the runtimes' own:
torch.profiler for torch (CPU operators, CUDA kernels on a GPU) and ONNX Runtime's session
profiling (node level). Their ops are mapped onto one taxonomy (bench.profile.taxonomy), so that
a torch cell and an ONNX Runtime cell break down into the same categories, and two cells' breakdowns
can be subtracted (bench.profile.diff) to say which categories an optimization made faster.

Nothing here is imported by a cell that does not profile: the phase imports these modules itself.
"""
