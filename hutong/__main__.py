from hutong.cli import main

main()
