from rastro_exporter.cli import main

raise SystemExit(main())
