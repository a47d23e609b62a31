"""Where the repository and its configs are, for tests at any depth of tests/."""

import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs')
