"""Report writers (summary, JUnit properties, plots, failure bundles). Pure: no pytest import here.

Everything written goes through gpuconf.reports.files (atomic, redacted); an unwritable reports
directory raises ReportDirError with one line naming the path.
"""

from gpuconf.reports.files import ReportDirError
from gpuconf.reports.runinfo import RunInfo
from gpuconf.reports.verdicts import StepResult, Verdict

__all__ = ["ReportDirError", "RunInfo", "StepResult", "Verdict"]
