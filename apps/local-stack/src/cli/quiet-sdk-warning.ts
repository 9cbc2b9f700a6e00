/**
 * Imported first by the CLIs and the load benchmark's processes: the AWS SDK warns that its 2027 releases need
 * Node 22 (the lockfile pins a release that runs on 20); the output keeps to what a user acts on. Every other
 * warning prints.
 */
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  const message = String(warning.message);
  if (
    warning.name === 'NodeVersionSupportWarning' ||
    message.includes('NodeVersionSupport') ||
    message.includes('upgrade to node')
  )
    return;
  for (const listener of printWarning) listener(warning);
});
