"""What users call from Python. The export itself lives in the engine layer, where
ExportStudentsHook (also engine) uses it; this is its public name."""

from kdcl_mm.engine.student_export import (
    KDCLCheckpoint,
    export_students,
    load_kdcl_checkpoint,
    select_students,
    student_config,
    student_state_dict,
)

__all__ = [
    'KDCLCheckpoint',
    'export_students',
    'load_kdcl_checkpoint',
    'select_students',
    'student_config',
    'student_state_dict',
]
