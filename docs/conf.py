"Sphinx settings for the learntorch course site. Run docs/build.py rather than Sphinx itself."
import re, shutil, sys
from pathlib import Path
from docutils import nodes
from sphinx.transforms import SphinxTransform

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))   # document the learntorch of this checkout

project = 'learntorch'
author = 'learntorch developers'
copyright = '2026 onwards, learntorch developers'
extensions = ['myst_nb', 'sphinx.ext.autodoc']
exclude_patterns = ['**/.ipynb_checkpoints']

# Notebooks run on every build, so no page shows stale output; any error fails the build.
nb_execution_mode = 'force'
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300           # seconds per cell
nb_merge_streams = True
nb_code_prompt_show = 'Show the solution'   # only exercises' solutions (`#| solution`) are folded cells
nb_code_prompt_hide = 'Hide the solution'
nb_render_markdown_format = 'myst'   # markdown outputs, such as nbdev's show_doc, render as MyST
myst_enable_extensions = ['dollarmath', 'amsmath']
myst_heading_anchors = 3             # links may point at sections: page.ipynb#section-title

class RulesInOutputs(SphinxTransform):
    "show_doc's output starts with a rule (---), which docutils allows only between sections: make it plain HTML."
    default_priority = 800               # before docutils checks where rules stand (830)
    def apply(self):
        for rule in list(self.document.findall(nodes.transition)):
            if not isinstance(rule.parent, (nodes.document, nodes.section)):
                rule.replace_self(nodes.raw('', '<hr>', format='html'))

# API reference: docstrings in source order. They are markdown, so `code` becomes ``code`` for reST
# (with an escaped space where a letter touches it, as in `Tensor`s, which reST needs to see the literal end).
autodoc_member_order = 'bysource'
def markdown_code(app, what, name, obj, options, lines):
    def literal(m):
        before, code, after = m.groups()
        return before + ('\\ ' if before else '') + f'``{code}``' + ('\\ ' if after else '') + after
    lines[:] = [re.sub(r'(\w?)(?<!`)`([^`]+)`(?!`)(\w?)', literal, line) for line in lines]

# MathJax 3 comes from npm (docs/node_modules) and is served by the site itself: no CDN, works offline.
mathjax_path = 'mathjax/tex-chtml.js'
def copy_mathjax(app, exc):
    if exc is None:
        shutil.copytree(DOCS/'node_modules'/'mathjax'/'es5', Path(app.outdir)/'_static'/'mathjax', dirs_exist_ok=True)

html_theme = 'sphinx_book_theme'
html_title = 'learntorch'
html_static_path = ['static']
html_css_files = ['custom.css']
html_favicon = html_logo = 'static/logo.svg'
html_theme_options = {'show_toc_level': 2, 'home_page_in_toc': True, 'logo': {'text': 'learntorch'}}
html_context = {'default_mode': 'auto'}   # light or dark, as the reader's system prefers

def setup(app):
    app.add_transform(RulesInOutputs)
    app.connect('autodoc-process-docstring', markdown_code)
    app.connect('build-finished', copy_mathjax)
