from .kdcl import KDCL
from .students import default_student_name, resolve_students

__all__ = ['KDCL', 'default_student_name', 'resolve_students']
