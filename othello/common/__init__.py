"""What every room shares: the user error and how scripts end on one (errors, cli),
``key=value`` settings, atomic writes, file hashes, the device and machine records, figures,
the code's version."""
