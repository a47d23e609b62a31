# mmpretrain's CIFAR schedule (SGD, lr 0.1, x0.1 at epochs 100/150, 200 epochs), run by the
# loop that resumes mid-epoch and stops on a signal (configs/_base_/exact_resume.py).
_base_ = 'mmpretrain::_base_/schedules/cifar10_bs128.py'
train_cfg = dict(
    _delete_=True,
    type='ResumableEpochBasedTrainLoop',
    max_epochs=_base_.train_cfg.max_epochs,
    val_interval=_base_.train_cfg.val_interval,
)
