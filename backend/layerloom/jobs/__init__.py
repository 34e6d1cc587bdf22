"""Jobs: submit, claim (fenced by a dispatch token), lease and heartbeat, supervise a runner
subprocess, relay its events, reap expired leases. Plain code, tested without Celery; the Celery
task in ``layerloom.worker.tasks`` only calls ``run_job``."""
