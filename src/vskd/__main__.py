from vskd.cli import main

raise SystemExit(main())
