export { openBlockMap, registerBlockMapSerializer, closeAllBlockMaps, blockMapHtml, BlockMapPanel, BLOCK_MAP_VIEW_TYPE, type BlockMapRestorer } from './panel';
export type { BlockMapLog } from './session';
export { toBlockMapSummary, summaryText, type SummaryExtras } from './summary';
export type { BlockMapDataSource } from './dataSource';
export { blockMapSourceFromStore, type StoreSourceOptions } from './storeSource';
export type {
  BlockMapSummary,
  BinnedWindow,
  CellRanges,
  FamilyBar,
  FamilyBars,
  MapWindow,
  ExportFormat,
  BlockMapViewState,
} from '../../shared/blockMapProtocol';
