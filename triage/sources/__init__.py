"""Where many messages come from: path walks, mbox, Maildir, PST (the batch issue)."""
