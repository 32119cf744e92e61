"""The display layer: results as HTML for notebooks (MathML from latex2mathml) and the shared renderers.

:mod:`matdiff.display.notebook` registers each result class's HTML with :mod:`matdiff.html_hook`
when imported (``import matdiff`` does); :mod:`matdiff.display.render` turns LaTeX into MathML
and steps into rows, for the notebook and the web page alike.
"""
