import { DiskDeltaError } from '../../core/ports';
import type { CliContext } from '../context';

export async function exportCommand(_ctx: CliContext, _operation: string, _o: Record<string, unknown>): Promise<void> {
  throw new DiskDeltaError('export is not available in this build.', 'NotAvailable');
}
