"""Where many messages come from: the scan CLI's path walk (paths.py), and for sweeps (walk.py) mbox, Maildir,
MH, Outlook .msg, PST and zip files of these, each message with a stable source id (entry.py)."""
