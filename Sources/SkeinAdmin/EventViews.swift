import Foundation
import SkeinBroker
import SkeinCluster

/// `/v1/events?format=json`: the events this node kept, oldest first; and the text of one
/// event on the `/v1/events` server-sent stream (`id`, `event` and a JSON `data` line).
struct EventListView: Encodable {
  struct Item: Encodable {
    var id: UInt64
    var event: ClusterEvent
  }

  var events: [Item]

  init(entries: [ClusterEventLog.Entry]) {
    events = entries.map { Item(id: $0.id, event: $0.event) }
  }

  static func serverSentEvent(_ entry: ClusterEventLog.Entry) -> String {
    let data =
      (try? adminEncoder().encode(Item(id: entry.id, event: entry.event))) ?? Data("{}".utf8)
    return "id: \(entry.id)\nevent: \(entry.event.kind.rawValue)\ndata: "
      + (String(data: data, encoding: .utf8) ?? "{}") + "\n\n"
  }
}
