"""What an operator sees of a running process: Prometheus metrics (metrics), the HTTP
middleware that measures requests and tags them with a request id (middleware), and JSON log
lines carrying that request id and the run id (logs)."""
