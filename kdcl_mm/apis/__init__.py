from .export_students import (KDCLCheckpoint, export_students, load_kdcl_checkpoint,
                              select_students, student_config, student_state_dict)

__all__ = ['KDCLCheckpoint', 'export_students', 'load_kdcl_checkpoint', 'select_students',
           'student_config', 'student_state_dict']
