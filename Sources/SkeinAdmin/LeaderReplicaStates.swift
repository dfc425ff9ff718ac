import Foundation
import NIOCore
import SkeinCluster

/// Only a partition's leader knows its followers' log end offsets and when they last caught
/// up, so a node answering `/v1/topics/{t}` asks each other leader's HTTP listener (registered
/// as its `HTTP` listener) for `?scope=local` and takes the states of the partitions it leads.
struct LeaderReplicaStates: Sendable {
  /// How long one leader may take; a leader that does not answer leaves its partitions' states
  /// out (nil) rather than holding up the page.
  var timeout: TimeAmount = .seconds(1)

  /// `view` with the replica states of the partitions that other leaders lead filled in.
  func fill(_ view: TopicView, image: MetadataImage, selfId: Int32) async -> TopicView {
    var leaders: Set<String> = []  // their HTTP endpoints
    for p in view.partitions where p.replicaStates == nil && p.leader >= 0 && p.leader != selfId {
      if let endpoint = image.brokers[p.leader]?.adminEndpoint { leaders.insert(endpoint) }
    }
    guard !leaders.isEmpty else { return view }
    let topic = view.name
    let answers = await withTaskGroup(of: TopicView?.self) { group in
      for endpoint in leaders {
        group.addTask { await ask(endpoint, topic: topic) }
      }
      var answers: [TopicView] = []
      for await answer in group { if let answer { answers.append(answer) } }
      return answers
    }
    var merged = view
    var byPartition: [Int32: Int] = [:]
    for (i, p) in merged.partitions.enumerated() { byPartition[p.partition] = i }
    for answer in answers where answer.topicId == view.topicId {
      for p in answer.partitions where p.replicaStates != nil {
        // Only the answer of the leader we know of, at the epoch we know of.
        guard let i = byPartition[p.partition], merged.partitions[i].replicaStates == nil,
          merged.partitions[i].leader == p.leader,
          merged.partitions[i].leaderEpoch == p.leaderEpoch
        else { continue }
        merged.partitions[i].replicaStates = p.replicaStates
        merged.partitions[i].highWatermark = p.highWatermark
      }
    }
    return merged
  }

  private func ask(_ endpoint: String, topic: String) async -> TopicView? {
    guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[colon...].dropFirst())
    else { return nil }
    let host = String(endpoint[..<colon])
    let name = topic.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? topic
    do {
      let (status, body) = try await PeerHTTPClient(timeout: timeout).get(
        host: host, port: port, path: "/v1/topics/\(name)?scope=local")
      guard status == 200 else { return nil }
      let decoder = JSONDecoder()
      decoder.keyDecodingStrategy = .convertFromSnakeCase
      return try decoder.decode(TopicView.self, from: body)
    } catch {
      return nil
    }
  }
}
