from .resumable_sampler import ResumableSampler, SeededIndex, sample_seed, seeded_generators

__all__ = ['ResumableSampler', 'SeededIndex', 'sample_seed', 'seeded_generators']
