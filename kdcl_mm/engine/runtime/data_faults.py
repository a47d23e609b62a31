"""A training sample that cannot be loaded stops the run naming its dataset index and file, in
the main process; or, opted in, it is skipped and logged without moving the others.

torch's DataLoader fetches a batch through ``dataset.__getitems__`` when the dataset has one,
in the main process and in every worker. :class:`SampleFetch` is that fetch (ResumableSampler
installs its seeded form, :class:`~kdcl_mm.engine.runtime.resumable_sampler.SeededFetch`;
:class:`DataFaultHook` installs it for any other sampler). A worker sends an exception to the
main process as its type and formatted traceback, and the main process raises
``type(text)``; :class:`SampleLoadError` keeps only its own message from that text, so the
error raised in the main process reads the same with or without workers.
"""

import logging
import multiprocessing
import re
from typing import Any, List, Optional, Sequence, Sized

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS

#: The config key that turns skipping on, as the messages name it.
SKIP_KEY = 'default_hooks.data_faults.skip_bad_samples=True'
_WORKER = re.compile(r'^Caught SampleLoadError in (DataLoader worker process \d+)')


class SampleLoadError(RuntimeError):
    """A training sample could not be loaded; the message names its index and file."""

    def __init__(self, message: str):
        worker = _WORKER.match(message)
        if worker:  # re-raised in the main process from a worker's formatted traceback
            own = [line for line in message.splitlines() if 'SampleLoadError: ' in line]
            if own:
                message = f'{own[-1].split("SampleLoadError: ", 1)[1]} (in {worker.group(1)})'
        super().__init__(message)


def sample_file(dataset: Sized, index: int) -> Optional[str]:
    """The file behind ``dataset[index]`` (``img_path``, as OpenMMLab datasets record it)."""
    try:
        info = dataset.get_data_info(index)
    except Exception:  # noqa: BLE001 (a wrapper without get_data_info, or a broken index)
        return None
    for key in ('img_path', 'filename', 'seg_map_path'):
        if isinstance(info, dict) and info.get(key):
            return str(info[key])
    return None


def describe_fault(dataset: Sized, index: int, err: BaseException) -> str:
    path = sample_file(dataset, index)
    return (
        f'training sample {index} of {type(dataset).__name__}'
        f'{f" ({path})" if path else ""}: {type(err).__name__}: {err}'.replace('\n', ' ')
    )


class SampleFetch:
    """``dataset.__getitems__``: load each index of a batch, naming a sample that fails.

    With ``skip_bad_samples`` a sample that fails is left out of its batch (which is one
    sample shorter) and logged with a running count; the other samples, their order and (with
    ResumableSampler) their augmentations do not change, so exact resume still holds.
    """

    def __init__(self, dataset: Sized):
        self.dataset = dataset
        self.skip_bad_samples = False
        self._skipped = None  # a count shared with the DataLoader workers

    def skip(self, enabled: bool) -> None:
        """Turn skipping on or off; before the DataLoader starts its workers."""
        self.skip_bad_samples = bool(enabled)
        if enabled and self._skipped is None:
            self._skipped = multiprocessing.Value('q', 0)

    @property
    def num_skipped(self) -> int:
        return 0 if self._skipped is None else int(self._skipped.value)

    def load(self, index) -> Any:
        return self.dataset[index]

    def __call__(self, indices: Sequence[int]) -> List:
        items = []
        for index in indices:
            try:
                items.append(self.load(index))
            except Exception as err:  # noqa: BLE001 (named below, then raised or skipped)
                message = describe_fault(self.dataset, int(index), err)
                if not self.skip_bad_samples:
                    raise SampleLoadError(
                        f'cannot load {message}. Fix or remove the file (and its annotation), '
                        f'or skip such samples with {SKIP_KEY}.'
                    ) from err
                self._count_skip(message)
        if indices and not items:
            raise SampleLoadError(
                f'every sample of a batch failed to load (indices {[int(i) for i in indices]}); '
                'the last: cannot load ' + message
            )
        return items

    def _count_skip(self, message: str) -> None:
        with self._skipped.get_lock():
            self._skipped.value += 1
            count = self._skipped.value
        print_log(
            f'Skipped {message} ({count} skipped so far; {SKIP_KEY}).',
            logger='current',
            level=logging.WARNING,
        )


@HOOKS.register_module()
class DataFaultHook(Hook):
    """Name bad training samples (index and file) under any sampler; opt in to skip them.

    ``ResumableSampler`` already fetches through :class:`SampleFetch`; for other samplers
    (mmdet's, mmseg's) this hook installs it on the train dataset before the first epoch's
    workers start. mmengine's ``IterBasedTrainLoop`` starts its workers when it is built,
    before any hook: with ``num_workers > 0`` there, a bad sample is reported as the worker
    raised it (mmcv names the file).

    Args:
        skip_bad_samples: leave samples that fail to load out of their batch (logged, counted)
            instead of stopping.
    """

    priority = 'NORMAL'

    def __init__(self, skip_bad_samples: bool = False):
        self.skip_bad_samples = skip_bad_samples
        self._fetch: Optional[SampleFetch] = None

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        dataset = loader.dataset
        fetch = getattr(dataset, '__getitems__', None)
        if fetch is not None and not isinstance(fetch, SampleFetch):
            if self.skip_bad_samples:
                raise ValueError(
                    f'{SKIP_KEY} cannot skip samples of {type(dataset).__name__}, which loads '
                    'batches itself (__getitems__); remove the option.'
                )
            return
        if fetch is None:
            iterator = getattr(
                getattr(runner.train_loop, 'dataloader_iterator', None), '_iterator', None
            )
            if iterator is not None and getattr(iterator, '_num_workers', 0) > 0:
                runner.logger.info(
                    'DataFaultHook: the train dataloader workers started before the hook '
                    '(IterBasedTrainLoop); a sample that fails to load is reported as the '
                    'worker raises it.'
                )
                if self.skip_bad_samples:
                    raise ValueError(
                        f'{SKIP_KEY} needs train_dataloader.num_workers=0 with '
                        f'{type(runner.train_loop).__name__}, whose workers start before hooks.'
                    )
                return
            fetch = dataset.__getitems__ = SampleFetch(dataset)
        fetch.skip(self.skip_bad_samples)
        self._fetch = fetch

    def after_train_epoch(self, runner) -> None:
        if self._fetch is not None and self._fetch.num_skipped:
            runner.logger.warning(
                f'{self._fetch.num_skipped} training sample(s) skipped so far because they '
                f'could not be loaded ({SKIP_KEY}); each is named above.'
            )
