"""Durable escalations: the audit store every HIGH/IMMINENT verdict is written to before the
reply leaves, and the outbox that delivers each record to the operators' webhook.

``store`` holds the records (SQLite by default, PostgreSQL when configured by URL);
``outbox`` delivers them with retries. Neither speaks gRPC.
"""
