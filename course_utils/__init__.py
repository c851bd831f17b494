"""course_utils: the helper library behind the Pix2Pix course notebooks.

One module per concern: `environment` (fast mode, device, data cache), `data` (paired data sets and
synthetic facades), `plotting` (figures), `training` (the training harness), `checks` (the checks
learners run and the comparisons hidden tests use), `notebooks` (running notebooks headless, reusing an
earlier notebook's code) and `grade` (releasing and autograding with nbgrader). It never holds the
solution of a graded exercise.
"""

from course_utils.environment import data_dir, fast_mode, get_device, pick, print_environment, setup

__all__ = ["data_dir", "fast_mode", "get_device", "pick", "print_environment", "setup"]
__version__ = "0.1.0"
