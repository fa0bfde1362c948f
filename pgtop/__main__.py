from pgtop.cli import main

raise SystemExit(main())
