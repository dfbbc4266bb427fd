"""A Sphinx extension for the rendered book (named in _config.yml's extra_extensions).

Sphinx 7.4 writes an inline script that an extension adds once the builder exists twice
into every page: the builder keeps it under the name None, and takes it again from the
registry under the name "" when it writes the pages, so the two never compare equal.
sphinx-thebe adds its settings that way (`const THEBE_JS_URL = ...`), and the second
copy throws "Identifier 'THEBE_JS_URL' has already been declared" on every page
(seen by tests/book/test_browser.py). The builder's copies are dropped here; the registry's
are the ones written.
"""

from __future__ import annotations


def drop_unnamed_builder_scripts(app, env=None, docnames=None) -> None:
    """Remove the builder's inline scripts named None; the registry adds each back once."""
    scripts = getattr(app.builder, "_js_files", None)
    if scripts is not None:
        scripts[:] = [s for s in scripts if getattr(s, "filename", "") is not None]


def setup(app):
    # after sphinx-thebe's own handler of the same event (priority 500)
    app.connect("env-before-read-docs", drop_unnamed_builder_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
