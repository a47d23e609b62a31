from .kd_loss import SoftTargetKDLoss  # noqa: F401
