"""Stand-ins for the parts of NexusLIMS 2.8 the test environment does not install.

The test environment has NexusLIMS without its scientific stack (hyperspy, lxml, numpy, ...),
which ``nexusLIMS.builder.record_builder`` imports at the top for record *building*. The modules
that need it are replaced by placeholders that fail if anything is called on them; the file
search (``dry_run_file_find``, ``get_files``, GNU ``find`` via ``nexusLIMS.utils.files``) stays
NexusLIMS's real code. The extractor registry only feeds the extension list of the "exclusive"
strategy: :func:`install_placeholders` is given that list (empty by default).
Imported by the scripts next to it, in NexusLIMS's environment (standard library only).
"""

import sys
import types
from pathlib import Path


class _NotInstalled:
    """Stands for a part of NexusLIMS that needs a package this environment lacks."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("not installed in the NexusLIMS test environment")


class _Placeholder(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _NotInstalled


def install_placeholders(extensions=()):
    """Put the placeholders in ``sys.modules``; the registry reports ``extensions``."""
    import nexusLIMS

    class _Registry:
        @staticmethod
        def get_supported_extensions(exclude_fallback=False):
            return set(extensions)

    root = Path(nexusLIMS.__file__).parent
    for name in (
        "lxml",
        "lxml.etree",
        "nexusLIMS.builder.preflight",
        "nexusLIMS.exporters",
        "nexusLIMS.extractors",
        "nexusLIMS.harvesters.nemo",
        "nexusLIMS.harvesters.nemo.utils",
        "nexusLIMS.harvesters.reservation_event",
        "nexusLIMS.schemas",
        "nexusLIMS.schemas.activity",
    ):
        sys.modules[name] = _Placeholder(name)
        parent, _, child = name.rpartition(".")
        if isinstance(sys.modules.get(parent), _Placeholder):
            setattr(sys.modules[parent], child, sys.modules[name])
    sys.modules["nexusLIMS.schemas.activity"].__file__ = str(root / "schemas" / "activity.py")
    sys.modules["nexusLIMS.extractors"].get_registry = _Registry
