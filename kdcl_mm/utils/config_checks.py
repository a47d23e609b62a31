"""Fail fast on KDCL configs that would otherwise fail (or silently mis-train) later."""
from mmengine.config import Config


def _find_multiview(pipeline):
    for t in pipeline or []:
        if isinstance(t, dict) and t.get('type') == 'MultiView':
            return t
    return None


def _train_pipeline(dataset: dict):
    while isinstance(dataset, dict) and 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset['dataset']  # wrappers such as HeldOutSplit / RepeatDataset
    return dataset.get('pipeline') if isinstance(dataset, dict) else None


def check_kdcl_config(cfg: Config) -> None:
    """Raise ValueError naming the field when a KDCL config is inconsistent."""
    model = cfg.get('model', {})
    if model.get('type') != 'KDCL':
        return
    num_students = len(model.get('students', []))
    train_loader = cfg.get('train_dataloader') or {}
    multiview = _find_multiview(_train_pipeline(train_loader.get('dataset', {})))
    if multiview is not None:
        views = multiview.get('num_views')
        total = sum(views) if isinstance(views, (list, tuple)) else views
        if total != num_students:
            raise ValueError(
                f'train_dataloader.dataset.pipeline: MultiView(num_views={views}) gives {total} '
                f'views but model.students has {num_students} students; input distortion needs '
                f'one view per student: set num_views={num_students} (or drop MultiView).')
    soft_target = model.get('soft_target', {}) or {}
    if soft_target.get('type') == 'GeneralSoftTarget':
        hooks = [h.get('type') for h in cfg.get('custom_hooks', []) or []]
        if 'GeneralWeightsHook' not in hooks:
            raise ValueError(
                "model.soft_target is GeneralSoftTarget but custom_hooks has no "
                "GeneralWeightsHook: General's weights come from a held-out split. Add "
                "dict(type='GeneralWeightsHook', heldout_dataloader=...) (see "
                'configs/kdcl/_base_/general_heldout.py).')
