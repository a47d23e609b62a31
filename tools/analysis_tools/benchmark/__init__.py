"""What KDCL costs over training its students alone, measured in one process (docs/benchmark.md).

One package, two modes (:mod:`.settings`): the overhead benchmark (``benchmark_kdcl``) and the
GPU check (``gpu_check``). :func:`.run.run_benchmark` times mmengine's full
``model.train_step(data, optim_wrapper)`` (preprocessing, forward, backward, optimiser step)
of a KDCL model per soft-target generator and of each student alone as an mmpretrain
``ImageClassifier`` on the same batches. The arms run round-robin, several rounds, warm-up
excluded, so machine noise hits them alike. It also times the training data pipeline with one
view per student (``MultiView``) against one view, and General's weight estimation over a
held-out split as a fraction of an epoch. :func:`.run.run_gpu_check` runs the same arms on one
synthetic batch on the GPU in each precision.

Modules: ``settings`` (what to measure, the presets), ``data`` (the batches), ``timing`` (the
round-robin and timed units), one module per measurement (``step_overhead``, ``loader_cost``,
``peak_memory``, ``activation_memory``, ``general_estimate``), ``run`` (a mode from settings to
report, the GPU check's included), ``report`` (Markdown and the files). Nothing is imported
here: the GPU check's command line stays free of OpenMMLab until it measures.
"""
