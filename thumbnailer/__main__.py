from thumbnailer.cli import main

raise SystemExit(main())
