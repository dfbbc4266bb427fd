"""The book's machinery: building and executing the book, its editions, otter-grader
assignments, fixes to Sphinx, reading the table of contents.

No chapter imports it and Colab never installs it; it imports the science (``nbhelpers``)
only for the name of the MNIST variable. ``python -m bookkit build`` is ``make book``.
"""
