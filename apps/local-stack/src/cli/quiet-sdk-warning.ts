/**
 * Imported first by the CLIs: the AWS SDK warns that its 2027 releases need Node 22 (the lockfile pins a
 * release that runs on 20); the stack's output keeps to what a user acts on. Every other warning prints.
 */
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'NodeVersionSupportWarning' || String(warning.message).includes('upgrade to node'))
    return;
  for (const listener of printWarning) listener(warning);
});
