from charclf.apps.cli import main

raise SystemExit(main())
