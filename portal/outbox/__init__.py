"""Side effects (emails now, webhooks later) written in the change's own transaction and
delivered afterwards by the worker, so a crash never loses one nor invents one."""
