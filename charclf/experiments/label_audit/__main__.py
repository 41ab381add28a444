"""``python -m charclf.experiments.label_audit``: the audit's command (see :mod:`.audit`)."""
from charclf.experiments.label_audit.audit import main

raise SystemExit(main())
