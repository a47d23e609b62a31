"""Read dataset configs through their wrappers (HeldOutSplit, RepeatDataset, ...)."""


def innermost_dataset_cfg(dataset_cfg: dict) -> dict:
    """The dataset config that holds the ``pipeline``, found through wrappers' ``dataset`` keys.

    Wrapper configs (``HeldOutSplit``, ``RepeatDataset``, ``ClassBalancedDataset``) keep
    the real dataset under ``dataset``; the first dict with a ``pipeline`` is returned. A
    config with neither key is returned as it is (it is the innermost one).
    """
    if not isinstance(dataset_cfg, dict):
        raise TypeError(f'expected a dataset config dict, got {type(dataset_cfg).__name__}')
    while 'pipeline' not in dataset_cfg and isinstance(dataset_cfg.get('dataset'), dict):
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


__all__ = ['innermost_dataset_cfg']
