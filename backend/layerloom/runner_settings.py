"""The settings a runner reads straight from its environment (it builds no ``Settings``, so it
imports nothing of the service). The worker passes each from its own settings
(``jobs/supervisor.runner_env``); ``Settings`` takes its defaults from here."""

DATA_ROOTS_ENV = "LAYERLOOM_DATA_ROOTS"
DATA_MEMORY_BUDGET_ENV = "LAYERLOOM_DATA_MEMORY_BUDGET_MB"
# The runner streams a job's data (data_loading auto) when its decoded splits would take more than this.
DEFAULT_DATA_MEMORY_BUDGET_MB = 2048
