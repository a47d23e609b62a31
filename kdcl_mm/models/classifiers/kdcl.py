"""KDCL: online knowledge distillation via collaborative learning (Guo et al., CVPR 2020)."""

import inspect
import logging
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.structures import DataSample

from kdcl_mm.registry import MODELS

from ..helpers import hard_labels
from .lean import recomputed_forward
from .nonfinite import NonFiniteLogits
from .students import StudentSpec, resolve_students

Views = Union[torch.Tensor, Sequence[torch.Tensor]]


@MODELS.register_module()
class KDCL(BaseClassifier):
    """N >= 2 students trained together, each from the labels and an ensembled soft target.

    For every student i: ``L_i = CE(z_i, y) + kd_loss(z_i, z_t)`` with
    ``z_t = soft_target([z_1..z_N], y)`` computed from detached logits, each student's
    logits coming from its own distorted view of the image.

    Args:
        students: N >= 2 mmpretrain classifier configs (dicts, optionally with a
            ``name``), packaged config paths such as
            ``'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'``, or
            ``dict(config=<path>, name=..., **overrides)``. Parameters live under
            ``students.{i}.``.
        soft_target: a soft-target generator config (``MinLogitSoftTarget``,
            ``NaiveSoftTarget``, ``LinearSoftTarget``, ``GeneralSoftTarget``,
            ``MeanSoftTarget``).
        kd_loss: the distillation loss, ``SoftTargetKDLoss(temperature, loss_weight)``.
        data_preprocessor: defaults to ``MultiViewClsDataPreprocessor``, which
            normalises one view per student.
        lean: in training, keep one student's activations at a time instead of all of
            them: backward recomputes each student's forward (``lean.py``), for one more
            forward per student. Gradients, parameters and BN buffers stay bit-identical
            to the default mode's; memory and time are in docs/benchmark.md.
    """

    def __init__(
        self,
        students: List[StudentSpec],
        soft_target: dict = dict(type='MinLogitSoftTarget'),
        kd_loss: dict = dict(type='SoftTargetKDLoss', temperature=2.0, loss_weight=1.0),
        data_preprocessor: Optional[dict] = None,
        lean: bool = False,
        init_cfg: Optional[dict] = None,
    ):
        named_cfgs = resolve_students(students)
        if not isinstance(data_preprocessor, nn.Module):
            # Built from kdcl_mm's registry: mmengine's BaseModel would look in its own.
            data_preprocessor = dict(data_preprocessor or {})
            data_preprocessor.setdefault('type', 'MultiViewClsDataPreprocessor')
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(init_cfg=init_cfg, data_preprocessor=data_preprocessor)

        self.student_names = [name for name, _ in named_cfgs]
        self.students = nn.ModuleList(MODELS.build(cfg) for _, cfg in named_cfgs)
        self.num_classes = _common_num_classes(self.students, self.student_names)
        self.soft_target = _build_soft_target(soft_target, len(self.students))
        self.kd_loss = MODELS.build(kd_loss)
        self.lean = bool(lean)
        self._warned_heldout = False
        self._nonfinite = NonFiniteLogits(self.student_names)

    @property
    def num_students(self) -> int:
        return len(self.students)

    def forward(
        self, inputs: Views, data_samples: Optional[List[DataSample]] = None, mode: str = 'tensor'
    ):
        if mode == 'tensor':
            return self.student_logits(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def student_logits(self, inputs: Views) -> List[torch.Tensor]:
        """Each student's logits on its own view (the same view for all if one is given)."""
        forward = recomputed_forward if self.lean and self.training else nn.Module.__call__
        return [forward(student, view) for student, view in zip(self.students, self._views(inputs))]

    def loss(self, inputs: Views, data_samples: List[DataSample]) -> dict:
        self._warn_if_heldout_weights_missing()
        logits = self.student_logits(inputs)
        target = self.soft_target([z.detach() for z in logits], hard_labels(data_samples))
        # Non-finite students are left out of the target; samples with none finite get no KD.
        nonfinite, has_target = self._nonfinite(logits)
        mask = has_target if getattr(self.soft_target, 'isolate_nonfinite', False) else None
        losses = {}
        for name, student, z, count in zip(self.student_names, self.students, logits, nonfinite):
            # The head's own loss module honours label smoothing and mixed (soft) labels.
            ce = student.head._get_loss(z, data_samples)
            losses[f'{name}.loss_ce'] = ce.pop('loss')
            losses.update({f'{name}.{k}': v for k, v in ce.items()})
            losses[f'{name}.loss_kd'] = self.kd_loss(z, target, mask=mask)
            losses[f'{name}.nonfinite'] = count  # logged; no 'loss' in the key, so not summed
        return losses

    def predict(
        self, inputs: Views, data_samples: Optional[List[DataSample]] = None, **kwargs
    ) -> List[DataSample]:
        """Ensemble prediction (mean of the students' probabilities) plus every student's."""
        scores = torch.stack([F.softmax(z, dim=1) for z in self.student_logits(inputs)], dim=1)
        ensemble = scores.mean(dim=1)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(ensemble.size(0))]
        for sample, per_student, score in zip(data_samples, scores, ensemble):
            sample.set_pred_score(score).set_pred_label(score.argmax(dim=0, keepdim=True))
            sample.set_field(per_student, 'student_scores', dtype=torch.Tensor)
            sample.set_metainfo(dict(student_names=tuple(self.student_names)))
        return data_samples

    def extract_feat(self, inputs: Views, stage: str = 'neck') -> list:
        return [s.extract_feat(v, stage=stage) for s, v in zip(self.students, self._views(inputs))]

    def _warn_if_heldout_weights_missing(self) -> None:
        # tools/train.py refuses such configs; other entry points (mmpretrain's own tools, a
        # hand-built Runner) get told once instead of training with silent uniform weights.
        # The cheap flag first: reading `estimated` from a GPU buffer would sync every step.
        if self._warned_heldout or not getattr(self.soft_target, 'requires_heldout', False):
            return
        # Once estimated, the weights stay estimated: stop reading the buffer after that too.
        self._warned_heldout = True
        if not bool(self.soft_target.estimated):
            print_log(
                'GeneralSoftTarget is training with its initial uniform weights: nothing '
                'has estimated them on held-out data. Add '
                "dict(type='GeneralWeightsHook', heldout_dataloader=...) to custom_hooks.",
                logger='current',
                level=logging.WARNING,
            )

    def _views(self, inputs: Views) -> Sequence[torch.Tensor]:
        if isinstance(inputs, torch.Tensor):  # distortion off, or evaluation
            return [inputs] * self.num_students
        if len(inputs) != self.num_students:
            raise ValueError(
                f'the data pipeline produced {len(inputs)} views but KDCL has '
                f'{self.num_students} students ({", ".join(self.student_names)}): set '
                f'MultiView(num_views={self.num_students}) in train_dataloader.dataset.pipeline, '
                'or drop MultiView to give every student the same view.'
            )
        return inputs


def _common_num_classes(students: nn.ModuleList, names: List[str]) -> int:
    # getattr on head too: a student module without one gets the message, not AttributeError.
    heads = {name: getattr(s, 'head', None) for name, s in zip(names, students)}
    found = {name: getattr(head, 'num_classes', None) for name, head in heads.items()}
    if None in found.values():
        missing = [f'model.students[{i}] ({n})' for i, n in enumerate(names) if found[n] is None]
        raise ValueError(
            f'{", ".join(missing)}: no head with num_classes; KDCL needs classifiers with '
            "classification heads, e.g. dict(type='ImageClassifier', backbone=..., "
            "neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', ...))."
        )
    if len(set(found.values())) != 1:
        raise ValueError(
            f'model.students disagree on head.num_classes: {found}. Every student '
            'must predict the same classes: set the same head.num_classes on all.'
        )
    return next(iter(found.values()))


def _build_soft_target(cfg: dict, num_students: int) -> nn.Module:
    cfg = dict(cfg)
    cls = MODELS.get(cfg.get('type'))
    if cls is None:
        known = sorted(k for k in MODELS.module_dict if k.endswith('SoftTarget'))
        raise ValueError(
            f'unknown model.soft_target.type {cfg.get("type")!r}; choose one of {known}'
        )
    if 'num_students' in inspect.signature(cls).parameters:
        cfg.setdefault('num_students', num_students)
    return MODELS.build(cfg)
