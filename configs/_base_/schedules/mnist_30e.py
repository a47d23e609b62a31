# Schedule of the embedded MNIST recipe: 30 epochs, SGD + 2-epoch linear warm-up + cosine.
# Written to follow train_cfg.max_epochs: the cosine has no `end` and no `T_max`, so it ends
# with the run (T_max = max_epochs - 2, 28 here), also when a resumed run sets another
# max_epochs (ResumeScheduleHook). In a smoke run of 1 or 2 epochs it begins after the run
# ends and simply does not act (ResumableEpochBasedTrainLoop) instead of failing in mmengine.
max_epochs = 30
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4, nesterov=True)
)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2, convert_to_iter_based=True
    ),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=2),
]
# The loop that resumes mid-epoch and stops on a signal (configs/_base_/exact_resume.py).
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
