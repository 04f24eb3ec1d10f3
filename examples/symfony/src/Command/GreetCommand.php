<?php

namespace App\Command;

use Symfony\Component\Console\Attribute\AsCommand;
use Symfony\Component\Console\Command\Command;
use Symfony\Component\Console\Input\InputArgument;
use Symfony\Component\Console\Input\InputInterface;
use Symfony\Component\Console\Input\InputOption;
use Symfony\Component\Console\Output\OutputInterface;

/** On Lambda: {"cli": "bin/console app:greet Zoë"} runs it and returns its output and exit code. */
#[AsCommand(name: 'app:greet', description: 'Greet someone from the console')]
final class GreetCommand extends Command
{
    protected function configure(): void
    {
        $this
            ->addArgument('name', InputArgument::REQUIRED)
            ->addOption('fail', null, InputOption::VALUE_NONE, 'end with exit code 3');
    }

    protected function execute(InputInterface $input, OutputInterface $output): int
    {
        $output->writeln(sprintf('Hello, %s, from bin/console on PHP %s', $input->getArgument('name'), PHP_VERSION));

        return $input->getOption('fail') ? 3 : Command::SUCCESS;
    }
}
