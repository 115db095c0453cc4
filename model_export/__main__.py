from model_export.cli import main

main()
