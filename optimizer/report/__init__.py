"""Leadership report (SPEC §9): one self-contained HTML page for one or more finished runs.

The key figures of every scenario in one table, their hours per station against the first run,
then a column per scenario: small maps, hours per station and shift, what one more hour buys,
training seats, flagged stations, assessment, rank sensitivity and patrol balance. Charts and maps
are inline SVG and the page has no script and no remote file, so it opens (and prints) anywhere.
The page is jinja2 templates (`templates/`) with autoescape: `runs` reads the folders, `figures`
computes what is said, `charts` the SVG geometry and `render` the view of each section."""

from optimizer.report.figures import binding_summary, flagged_stations, key_figures
from optimizer.report.render import render_report
from optimizer.report.runs import Run, load_runs, run_labels

__all__ = [
    "Run",
    "binding_summary",
    "flagged_stations",
    "key_figures",
    "load_runs",
    "render_report",
    "run_labels",
]
