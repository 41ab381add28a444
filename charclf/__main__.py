from charclf.cli import main

raise SystemExit(main())
