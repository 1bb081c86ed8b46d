"""The articles' code examples, corrected and written in our own words.

Each module runs on its own (`python -m attnviz.examples.code.c002` prints what the page shows),
and the worked examples take their numbers from these same functions. A line that corrects an
erratum ends with `# fix: <erratum name>` (the key in attnviz/i18n/*/examples.toml).
"""
