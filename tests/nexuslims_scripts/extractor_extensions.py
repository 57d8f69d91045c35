"""Run in NexusLIMS's environment: the extensions of its specialised extractors, from source.

Reads ``nexusLIMS/extractors/plugins/*.py`` without importing them (they need hyperspy): every
class that sets ``priority`` above 0 (the fallback's) and a literal ``supported_extensions``,
as ``ExtractorRegistry.get_supported_extensions(exclude_fallback=True)`` collects them.
"""

import ast
import json
from pathlib import Path

import nexusLIMS

plugins = Path(nexusLIMS.__file__).parent / "extractors" / "plugins"
extensions = set()
for source in sorted(plugins.glob("*.py")):
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ClassDef):
            continue
        values = {}
        for item in node.body:
            target = getattr(item, "target", None) or (getattr(item, "targets", None) or [None])[0]
            if isinstance(target, ast.Name) and getattr(item, "value", None) is not None:
                try:
                    values[target.id] = ast.literal_eval(item.value)
                except ValueError:
                    pass
        if values.get("priority", 0) > 0 and values.get("supported_extensions"):
            extensions |= set(values["supported_extensions"])
print(json.dumps(sorted(extensions)))
